"""ioctl request numbers: _IOC decoding (ioc), names from the uapi headers (names) and argument
decoders for the dma-buf family and its neighbours (structs)."""
from __future__ import annotations

from .ioc import Ioc, decode_ioc, parse_request
from .names import names_for, narrow_by_link, value_of
from .structs import ArgDecode, Field, decode_argument

__all__ = ["Ioc", "decode_ioc", "parse_request", "names_for", "value_of", "narrow_by_link", "ArgDecode", "Field",
           "decode_argument"]
