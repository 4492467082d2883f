"""gdb-rr-dmabuf: explain rr's 'Unknown ioctl' emergency stops (pure-Python core; gdb glue in commands/)."""

__version__ = "0.1.0"
