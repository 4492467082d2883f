"""Which Go packages belong to the Go distribution (standard library, runtime, cmd), one definition
for the unwinder, the caller choice and the advice rules."""
from __future__ import annotations

from typing import Optional

# First path elements of the Go distribution's packages (GOROOT/src), Go 1.21 .. 1.27.
STD_ROOTS = frozenset("""archive arena bufio builtin bytes cmd cmp compress container context crypto database
debug embed encoding errors expvar flag fmt go hash html image index internal io iter log maps math mime
net os path plugin reflect regexp runtime slices sort strconv strings structs sync syscall testing text
time unicode unique unsafe vendor weak""".split())


def is_std_package(pkg: str, module: Optional[str] = None) -> bool:
    """True for a package of the Go distribution. A package that the build info places in a module
    (module given and not 'std') is never std, whatever its name; 'main' is the program's own."""
    if module and module != "std":
        return False
    if not pkg or pkg == "main":
        return False
    first = pkg.split("/", 1)[0]
    return "." not in first and first in STD_ROOTS
