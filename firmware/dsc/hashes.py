# Hash constructors for the firmware: hashlib's where the running build has the algorithm,
# the pure-Python ones from dsc.sha otherwise (MicroPython builds differ: the unix port has
# sha1 and sha256, the wasm build only sha256, few boards sha512).
#
#   h = hashes.new("sha256", b"data"); h.update(b"more"); h.digest()
#
# Objects from hashlib on MicroPython cannot be copied and must not be updated after digest();
# callers (dsc.mac) use each object once. FORCE_PURE = True (or new(..., force_pure=True))
# selects the pure-Python code even where hashlib has the algorithm: the tests use it to check
# the fallback on every VM.

try:
    import hashlib as _hashlib
except ImportError:  # a build without hashlib at all
    _hashlib = None

FORCE_PURE = False

# name -> (digest_size, block_size)
_SIZES = {"sha1": (20, 64), "sha256": (32, 64), "sha512": (64, 128)}


def _check(name):
    if name in _SIZES:
        return name
    low = name.lower() if isinstance(name, str) else None
    if low in _SIZES:
        return low
    raise ValueError("unknown hash %r (use sha1, sha256 or sha512)" % (name,))


def _native(name):
    if _hashlib is None:
        return None
    return getattr(_hashlib, name, None)


def canonical(name: str) -> str:
    # The lower-case name ("sha256") of a known hash; ValueError for any other.
    return _check(name)


def have_native(name: str) -> bool:
    # True when the running build's hashlib has the algorithm.
    return _native(_check(name)) is not None


def new(name, data=b"", force_pure=False):
    name = _check(name)
    ctor = None
    if not (force_pure or FORCE_PURE):
        ctor = _native(name)
    if ctor is None:
        from dsc import sha  # imported only where needed: it costs RAM on a board

        ctor = sha.CLASSES[name]
    if data:
        return ctor(data)
    return ctor()


def digest_size(name: str) -> int:
    return _SIZES[_check(name)][0]


def block_size(name: str) -> int:
    return _SIZES[_check(name)][1]
