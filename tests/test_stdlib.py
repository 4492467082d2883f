"""One definition of 'standard library' for the unwinder, the caller choice and the advice."""
import pytest

from gdb_rr_dmabuf.go_runtime.stdlib import is_std_package


@pytest.mark.parametrize("pkg,module,want", [
    ("runtime", None, True), ("net/http", None, True), ("internal/runtime/syscall", None, True),
    ("cmd/compile/internal/ssa", None, True), ("syscall", "std", True),
    ("main", None, False), ("", None, False),
    ("golang.org/x/sys/unix", None, False), ("example.com/dmademo/render", None, False),
    ("mypkg/render", None, False),            # a dotless module path of the user's, not a std root
    ("net/http", "example.com/fork", False),  # the build info puts it in a module: not std
])
def test_is_std_package(pkg, module, want):
    assert is_std_package(pkg, module) is want
