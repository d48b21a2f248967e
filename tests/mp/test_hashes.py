# dsc.sha, dsc.hashes and dsc.mac on CPython, the unix port and the wasm build. Every check runs
# on the pure-Python code (forced) and, where the build has it, on hashlib's.
# Expected values are the published ones: FIPS 180 examples, RFC 2202 (HMAC-SHA1) and RFC 4231
# (HMAC-SHA256/512).
import binascii

from dsc import hashes, mac, sha
from mptest import main, raises, test

NAMES = ("sha1", "sha256", "sha512")

MSG_448 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
MSG_896 = (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
           b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")

# FIPS 180 examples: name -> (empty, "abc", 448-bit, 896-bit)
FIPS = {
    "sha1": (
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "a9993e364706816aba3e25717850c26c9cd0d89d",
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
        "a49b2446a02c645bf419f995b67091253a04a259",
    ),
    "sha256": (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    ),
    "sha512": (
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
        "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445",
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
        "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
    ),
}

# SHA-256 over the concatenated digests of the messages bytes((7*i + 3) & 255 for i < L), for
# L = 0..299: crosses every padding boundary (55/56/64, 111/112/128 bytes) of each algorithm.
# Computed with CPython's hashlib.
LENGTHS = {
    "sha1": "0da79a84a04dd3d58943db9075ffb578b9c9e0758c837bb7edf2fe6946907dc8",
    "sha256": "7b074096cabb18dd0d1b468a173cb2f97f80e952525bca29542e606fd6d0753a",
    "sha512": "b649c4e6577be3c259289c2fd6b50826e79fce7f8ca8e0f5080b42ace0aafb64",
}

# RFC 2202 test cases 1-4, 6, 7 (HMAC-SHA1)
RFC2202 = (
    (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    (bytes(range(1, 26)), b"\xcd" * 50, "4c9007f4026250c6bc8414f9bf50c86c2d7235da"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "aa4ae5e15272d00e95705637ce8a3b55ed402112"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
     "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"),
)

# RFC 4231 test cases 1-4, 6, 7: (key, data, HMAC-SHA256, HMAC-SHA512)
RFC4231 = (
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
     "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
     "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
     "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
     "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
     "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
     "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
     "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
     "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
     "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
     "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data."
     b" The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
     "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
     "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"),
)


def hexof(b):
    return binascii.hexlify(b).decode()


def modes(name):
    # (label, force_pure) pairs to run for this algorithm on this VM.
    out = [("pure", True)]
    if hashes.have_native(name):
        out.append(("native", False))
    return out


@test
def test_fips_examples():
    for name in NAMES:
        for label, pure in modes(name):
            for i, msg in enumerate((b"", b"abc", MSG_448, MSG_896)):
                got = hexof(hashes.new(name, msg, force_pure=pure).digest())
                assert got == FIPS[name][i], (name, label, len(msg))


@test
def test_pure_classes_directly():
    for name in NAMES:
        cls = sha.CLASSES[name]
        h = cls(b"abc")
        assert h.hexdigest() == FIPS[name][1]
        assert h.name == name
        assert h.digest_size == hashes.digest_size(name)
        assert h.block_size == hashes.block_size(name)


@test
def test_every_padding_boundary():
    for name in NAMES:
        for label, pure in modes(name):
            acc = hashes.new("sha256")
            for n in range(300):
                msg = bytes([(7 * i + 3) & 255 for i in range(n)])
                acc.update(hashes.new(name, msg, force_pure=pure).digest())
            assert hexof(acc.digest()) == LENGTHS[name], (name, label)


@test
def test_incremental_update_matches_one_shot():
    msg = MSG_896 * 3
    for name in NAMES:
        want = hexof(hashes.new(name, msg, force_pure=True).digest())
        for step in (1, 3, 63, 64, 65, 127, 128, 129, 200):
            h = hashes.new(name, force_pure=True)
            for i in range(0, len(msg), step):
                h.update(msg[i:i + step])
            assert hexof(h.digest()) == want, (name, step)
        h = hashes.new(name, force_pure=True)
        h.update(bytearray(msg))
        h.update(memoryview(msg)[:0])
        assert hexof(h.digest()) == want, name


@test
def test_pure_digest_keeps_state_and_copy():
    for name in NAMES:
        h = sha.CLASSES[name](b"ab")
        first = h.digest()
        assert h.digest() == first  # digest() does not finish the object
        c = h.copy()
        h.update(b"c")
        assert hexof(h.digest()) == FIPS[name][1]
        assert c.digest() == first


@test
def test_force_pure_flag():
    saved = hashes.FORCE_PURE
    try:
        hashes.FORCE_PURE = True
        for name in NAMES:
            h = hashes.new(name, b"abc")
            assert isinstance(h, sha.CLASSES[name]), name
            assert hexof(h.digest()) == FIPS[name][1]
    finally:
        hashes.FORCE_PURE = saved


@test
def test_hash_names():
    assert hashes.digest_size("sha1") == 20
    assert hashes.digest_size("SHA256") == 32
    assert hashes.block_size("sha512") == 128
    assert hashes.block_size("sha1") == 64
    assert hashes.have_native("sha256") in (True, False)
    raises(ValueError, hashes.new, "md5")
    raises(ValueError, hashes.digest_size, "sha3_256")
    raises(ValueError, hashes.have_native, "")


@test
def test_hmac_rfc2202_sha1():
    for label, pure in modes("sha1"):
        for key, data, want in RFC2202:
            assert hexof(mac.hmac("sha1", key, data, pure)) == want, (label, data[:8])


@test
def test_hmac_rfc4231_sha256_sha512():
    for key, data, want256, want512 in RFC4231:
        for name, want in (("sha256", want256), ("sha512", want512)):
            for label, pure in modes(name):
                assert hexof(mac.hmac(name, key, data, pure)) == want, (name, label, data[:8])


@test
def test_hmac_incremental_and_single_use():
    key, data, want, _ = RFC4231[5]
    m = mac.HMAC("sha256", key)
    for i in range(0, len(data), 10):
        m.update(data[i:i + 10])
    assert hexof(m.digest()) == want
    raises(ValueError, m.digest)


@test
def test_fast_path_only_off_micropython():
    # CPython's hmac.digest serves mac.new(); a MicroPython VM keeps the card's own HMAC.
    import sys

    on_mp = sys.implementation.name == "micropython"
    assert (mac.STD_DIGEST is None) == on_mp
    key, data, want, _ = RFC4231[5]
    m = mac.new("SHA256", key)
    assert isinstance(m, mac.HMAC) == on_mp
    assert isinstance(mac.new("sha256", key, True), mac.HMAC)  # pure code asked for
    saved = hashes.FORCE_PURE
    try:
        hashes.FORCE_PURE = True
        assert isinstance(mac.new("sha256", key), mac.HMAC)
    finally:
        hashes.FORCE_PURE = saved
    scratch = bytearray(data[:10])
    m.update(scratch)
    scratch[:] = data[10:20]  # a reused buffer must not change what was fed before
    m.update(scratch)
    m.update(data[20:])
    assert hexof(m.digest()) == want
    raises(ValueError, m.digest)
    raises(ValueError, mac.new, "md5", key)


@test
def test_compare_digest():
    assert mac.compare_digest(b"abc", b"abc")
    assert mac.compare_digest(bytearray(b"abc"), b"abc")
    assert not mac.compare_digest(b"abc", b"abd")
    assert not mac.compare_digest(b"abc", b"ab")
    assert not mac.compare_digest(b"", b"a")
    assert mac.compare_digest(b"", b"")
    assert mac.compare_digest("12345678", "12345678")
    assert not mac.compare_digest("12345678", "12345679")
    raises(TypeError, mac.compare_digest, "abc", b"abc")


main()
