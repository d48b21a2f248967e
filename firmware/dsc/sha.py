# Pure-Python SHA-1, SHA-256 and SHA-512 (FIPS 180-4), the fallbacks that dsc.hashes uses where
# the running MicroPython build lacks one in hashlib. Same surface as hashlib objects:
# update(data), digest(), hexdigest(), copy(), digest_size, block_size, name.
#
# Decision: every word is kept as 16-bit limbs (SHA-1/SHA-256: two per 32-bit word, SHA-512:
# four per 64-bit word) and no intermediate value ever reaches 2**30. On the 32-bit ports the
# card runs on (rp2, esp32, and the wasm build) small ints hold 31 bits, so plain 32/64-bit
# arithmetic would create a heap-allocated big int at almost every step; with limbs a
# compression allocates nothing. Shifts are written mask-first ((x & M) << k) for that reason.
# The message schedules are module-level scratch lists: the firmware is single-threaded and a
# compression never calls back out, so one set serves every hash object.

import binascii

_M16 = 0xFFFF

# Scratch message schedules: high/low limbs for SHA-1 (80) and SHA-256 (64); four limbs for
# SHA-512 (80 each, most significant first).
_WH = [0] * 80
_WL = [0] * 80
_W0 = [0] * 80
_W1 = [0] * 80
_W2 = [0] * 80
_W3 = [0] * 80


def _split(words, limbs):
    # Constants are written as full words and split once at import time.
    out = []
    for w in words:
        for i in range(limbs - 1, -1, -1):
            out.append((w >> (16 * i)) & _M16)
    return tuple(out)


class _Hash:
    name = ""
    digest_size = 0
    block_size = 64
    _IV = ()
    _LEN_BYTES = 8

    def __init__(self, data=None):
        self._buf = bytearray(self.block_size)
        self._fill = 0  # bytes waiting in _buf
        self._count = 0  # message length so far, in bytes
        self._h = list(self._IV)
        if data:
            self.update(data)

    def _compress(self, block, off):
        raise NotImplementedError

    def update(self, data):
        n = len(data)
        self._count += n
        bs = self.block_size
        buf = self._buf
        fill = self._fill
        i = 0
        if fill:
            take = bs - fill
            if take > n:
                take = n
            for j in range(take):
                buf[fill + j] = data[j]
            fill += take
            i = take
            if fill < bs:
                self._fill = fill
                return
            self._compress(buf, 0)
        # Whole blocks straight from the caller's buffer: no copy.
        while n - i >= bs:
            self._compress(data, i)
            i += bs
        fill = n - i
        for j in range(fill):
            buf[j] = data[i + j]
        self._fill = fill

    def copy(self):
        c = self.__class__()
        c._buf[:] = self._buf
        c._fill = self._fill
        c._count = self._count
        c._h[:] = self._h
        return c

    def _finish(self):
        # Padding: 0x80, zeros, then the bit length big-endian in the last _LEN_BYTES bytes.
        bs = self.block_size
        buf = self._buf
        n = self._fill
        buf[n] = 0x80
        n += 1
        end = bs - self._LEN_BYTES
        if n > end:
            for j in range(n, bs):
                buf[j] = 0
            self._compress(buf, 0)
            n = 0
        for j in range(n, end):
            buf[j] = 0
        bits = self._count * 8
        for j in range(bs - 1, end - 1, -1):
            buf[j] = bits & 0xFF
            bits >>= 8
        self._compress(buf, 0)

    def digest(self):
        c = self.copy()  # digest() leaves this object usable, as hashlib's does
        c._finish()
        out = bytearray(self.digest_size)
        h = c._h
        for k in range(self.digest_size >> 1):
            v = h[k]
            out[2 * k] = v >> 8
            out[2 * k + 1] = v & 0xFF
        return bytes(out)

    def hexdigest(self):
        return binascii.hexlify(self.digest()).decode()


# --- SHA-1 -----------------------------------------------------------------------------------

class SHA1(_Hash):
    name = "sha1"
    digest_size = 20
    _IV = _split((0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0), 2)

    def _compress(self, block, off):
        wh = _WH
        wl = _WL
        for t in range(16):
            p = off + 4 * t
            wh[t] = (block[p] << 8) | block[p + 1]
            wl[t] = (block[p + 2] << 8) | block[p + 3]
        for t in range(16, 80):
            # W[t] = rotl1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16])
            xh = wh[t - 3] ^ wh[t - 8] ^ wh[t - 14] ^ wh[t - 16]
            xl = wl[t - 3] ^ wl[t - 8] ^ wl[t - 14] ^ wl[t - 16]
            wh[t] = ((xh << 1) & _M16) | (xl >> 15)
            wl[t] = ((xl << 1) & _M16) | (xh >> 15)
        s = self._h
        ah, al, bh, bl, ch, cl, dh, dl, eh, el = s
        for t in range(80):
            if t < 20:  # Ch(b, c, d), K = 0x5A827999
                fh = (bh & ch) | ((bh ^ _M16) & dh)
                fl = (bl & cl) | ((bl ^ _M16) & dl)
                kh = 0x5A82
                kl = 0x7999
            elif t < 40:  # Parity, K = 0x6ED9EBA1
                fh = bh ^ ch ^ dh
                fl = bl ^ cl ^ dl
                kh = 0x6ED9
                kl = 0xEBA1
            elif t < 60:  # Maj(b, c, d), K = 0x8F1BBCDC
                fh = (bh & ch) | (dh & (bh | ch))
                fl = (bl & cl) | (dl & (bl | cl))
                kh = 0x8F1B
                kl = 0xBCDC
            else:  # Parity, K = 0xCA62C1D6
                fh = bh ^ ch ^ dh
                fl = bl ^ cl ^ dl
                kh = 0xCA62
                kl = 0xC1D6
            # T = rotl5(a) + f + e + K + W[t]
            tl = (((al << 5) & _M16) | (ah >> 11)) + fl + el + kl + wl[t]
            th = ((((ah << 5) & _M16) | (al >> 11)) + fh + eh + kh + wh[t] + (tl >> 16)) & _M16
            eh = dh
            el = dl
            dh = ch
            dl = cl
            # c = rotl30(b) = rotr2(b)
            ch = (bh >> 2) | ((bl & 3) << 14)
            cl = (bl >> 2) | ((bh & 3) << 14)
            bh = ah
            bl = al
            ah = th
            al = tl & _M16
        _add32(s, 0, ah, al)
        _add32(s, 2, bh, bl)
        _add32(s, 4, ch, cl)
        _add32(s, 6, dh, dl)
        _add32(s, 8, eh, el)


def _add32(s, i, hi, lo):
    lo += s[i + 1]
    s[i] = (s[i] + hi + (lo >> 16)) & _M16
    s[i + 1] = lo & _M16


# --- SHA-256 ---------------------------------------------------------------------------------

_K256 = _split((
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
), 2)


class SHA256(_Hash):
    name = "sha256"
    digest_size = 32
    _IV = _split((0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                  0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19), 2)

    def _compress(self, block, off):
        wh = _WH
        wl = _WL
        k = _K256
        for t in range(16):
            p = off + 4 * t
            wh[t] = (block[p] << 8) | block[p + 1]
            wl[t] = (block[p + 2] << 8) | block[p + 3]
        for t in range(16, 64):
            # s0 = rotr7(x) ^ rotr18(x) ^ shr3(x), x = W[t-15]
            xh = wh[t - 15]
            xl = wl[t - 15]
            s0h = ((xh >> 7) | ((xl & 127) << 9)) ^ ((xl >> 2) | ((xh & 3) << 14)) ^ (xh >> 3)
            s0l = (((xl >> 7) | ((xh & 127) << 9)) ^ ((xh >> 2) | ((xl & 3) << 14))
                   ^ ((xl >> 3) | ((xh & 7) << 13)))
            # s1 = rotr17(x) ^ rotr19(x) ^ shr10(x), x = W[t-2]
            xh = wh[t - 2]
            xl = wl[t - 2]
            s1h = ((xl >> 1) | ((xh & 1) << 15)) ^ ((xl >> 3) | ((xh & 7) << 13)) ^ (xh >> 10)
            s1l = (((xh >> 1) | ((xl & 1) << 15)) ^ ((xh >> 3) | ((xl & 7) << 13))
                   ^ ((xl >> 10) | ((xh & 1023) << 6)))
            lo = wl[t - 16] + s0l + wl[t - 7] + s1l
            wh[t] = (wh[t - 16] + s0h + wh[t - 7] + s1h + (lo >> 16)) & _M16
            wl[t] = lo & _M16
        s = self._h
        ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, hh, hl = s
        for t in range(64):
            # T1 = h + S1(e) + Ch(e, f, g) + K[t] + W[t]; S1 = rotr6 ^ rotr11 ^ rotr25
            t1l = (hl
                   + (((el >> 6) | ((eh & 63) << 10)) ^ ((el >> 11) | ((eh & 2047) << 5))
                      ^ ((eh >> 9) | ((el & 511) << 7)))
                   + ((el & fl) ^ ((el ^ _M16) & gl)) + k[2 * t + 1] + wl[t])
            t1h = (hh
                   + (((eh >> 6) | ((el & 63) << 10)) ^ ((eh >> 11) | ((el & 2047) << 5))
                      ^ ((el >> 9) | ((eh & 511) << 7)))
                   + ((eh & fh) ^ ((eh ^ _M16) & gh)) + k[2 * t] + wh[t])
            # T2 = S0(a) + Maj(a, b, c); S0 = rotr2 ^ rotr13 ^ rotr22
            t2l = ((((al >> 2) | ((ah & 3) << 14)) ^ ((al >> 13) | ((ah & 8191) << 3))
                    ^ ((ah >> 6) | ((al & 63) << 10)))
                   + ((al & (bl | cl)) | (bl & cl)))
            t2h = ((((ah >> 2) | ((al & 3) << 14)) ^ ((ah >> 13) | ((al & 8191) << 3))
                    ^ ((al >> 6) | ((ah & 63) << 10)))
                   + ((ah & (bh | ch)) | (bh & ch)))
            hh = gh
            hl = gl
            gh = fh
            gl = fl
            fh = eh
            fl = el
            lo = dl + t1l
            eh = (dh + t1h + (lo >> 16)) & _M16
            el = lo & _M16
            dh = ch
            dl = cl
            ch = bh
            cl = bl
            bh = ah
            bl = al
            lo = t1l + t2l
            ah = (t1h + t2h + (lo >> 16)) & _M16
            al = lo & _M16
        _add32(s, 0, ah, al)
        _add32(s, 2, bh, bl)
        _add32(s, 4, ch, cl)
        _add32(s, 6, dh, dl)
        _add32(s, 8, eh, el)
        _add32(s, 10, fh, fl)
        _add32(s, 12, gh, gl)
        _add32(s, 14, hh, hl)


# --- SHA-512 ---------------------------------------------------------------------------------
# A 64-bit word is four limbs a3 a2 a1 a0 (a3 most significant). rotr(x, 16q + r) first
# rotates whole limbs by q, then shifts by r across neighbours.

_K512 = _split((
    0x428A2F98D728AE22, 0x7137449123EF65CD, 0xB5C0FBCFEC4D3B2F, 0xE9B5DBA58189DBBC,
    0x3956C25BF348B538, 0x59F111F1B605D019, 0x923F82A4AF194F9B, 0xAB1C5ED5DA6D8118,
    0xD807AA98A3030242, 0x12835B0145706FBE, 0x243185BE4EE4B28C, 0x550C7DC3D5FFB4E2,
    0x72BE5D74F27B896F, 0x80DEB1FE3B1696B1, 0x9BDC06A725C71235, 0xC19BF174CF692694,
    0xE49B69C19EF14AD2, 0xEFBE4786384F25E3, 0x0FC19DC68B8CD5B5, 0x240CA1CC77AC9C65,
    0x2DE92C6F592B0275, 0x4A7484AA6EA6E483, 0x5CB0A9DCBD41FBD4, 0x76F988DA831153B5,
    0x983E5152EE66DFAB, 0xA831C66D2DB43210, 0xB00327C898FB213F, 0xBF597FC7BEEF0EE4,
    0xC6E00BF33DA88FC2, 0xD5A79147930AA725, 0x06CA6351E003826F, 0x142929670A0E6E70,
    0x27B70A8546D22FFC, 0x2E1B21385C26C926, 0x4D2C6DFC5AC42AED, 0x53380D139D95B3DF,
    0x650A73548BAF63DE, 0x766A0ABB3C77B2A8, 0x81C2C92E47EDAEE6, 0x92722C851482353B,
    0xA2BFE8A14CF10364, 0xA81A664BBC423001, 0xC24B8B70D0F89791, 0xC76C51A30654BE30,
    0xD192E819D6EF5218, 0xD69906245565A910, 0xF40E35855771202A, 0x106AA07032BBD1B8,
    0x19A4C116B8D2D0C8, 0x1E376C085141AB53, 0x2748774CDF8EEB99, 0x34B0BCB5E19B48A8,
    0x391C0CB3C5C95A63, 0x4ED8AA4AE3418ACB, 0x5B9CCA4F7763E373, 0x682E6FF3D6B2B8A3,
    0x748F82EE5DEFB2FC, 0x78A5636F43172F60, 0x84C87814A1F0AB72, 0x8CC702081A6439EC,
    0x90BEFFFA23631E28, 0xA4506CEBDE82BDE9, 0xBEF9A3F7B2C67915, 0xC67178F2E372532B,
    0xCA273ECEEA26619C, 0xD186B8C721C0C207, 0xEADA7DD6CDE0EB1E, 0xF57D4F7FEE6ED178,
    0x06F067AA72176FBA, 0x0A637DC5A2C898A6, 0x113F9804BEF90DAE, 0x1B710B35131C471B,
    0x28DB77F523047D84, 0x32CAAB7B40C72493, 0x3C9EBE0A15C9BEBC, 0x431D67C49C100D4C,
    0x4CC5D4BECB3E42B6, 0x597F299CFC657E2A, 0x5FCB6FAB3AD6FAEC, 0x6C44198C4A475817,
), 4)


class SHA512(_Hash):
    name = "sha512"
    digest_size = 64
    block_size = 128
    _LEN_BYTES = 16
    _IV = _split((0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B,
                  0xA54FF53A5F1D36F1, 0x510E527FADE682D1, 0x9B05688C2B3E6C1F,
                  0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179), 4)

    def _compress(self, block, off):
        w3 = _W0
        w2 = _W1
        w1 = _W2
        w0 = _W3
        k = _K512
        for t in range(16):
            p = off + 8 * t
            w3[t] = (block[p] << 8) | block[p + 1]
            w2[t] = (block[p + 2] << 8) | block[p + 3]
            w1[t] = (block[p + 4] << 8) | block[p + 5]
            w0[t] = (block[p + 6] << 8) | block[p + 7]
        for t in range(16, 80):
            # s0 = rotr1(x) ^ rotr8(x) ^ shr7(x), x = W[t-15]
            x3 = w3[t - 15]
            x2 = w2[t - 15]
            x1 = w1[t - 15]
            x0 = w0[t - 15]
            s3 = (((x3 >> 1) | ((x0 & 1) << 15)) ^ ((x3 >> 8) | ((x0 & 255) << 8))
                  ^ (x3 >> 7))
            s2 = (((x2 >> 1) | ((x3 & 1) << 15)) ^ ((x2 >> 8) | ((x3 & 255) << 8))
                  ^ ((x2 >> 7) | ((x3 & 127) << 9)))
            s1 = (((x1 >> 1) | ((x2 & 1) << 15)) ^ ((x1 >> 8) | ((x2 & 255) << 8))
                  ^ ((x1 >> 7) | ((x2 & 127) << 9)))
            s0 = (((x0 >> 1) | ((x1 & 1) << 15)) ^ ((x0 >> 8) | ((x1 & 255) << 8))
                  ^ ((x0 >> 7) | ((x1 & 127) << 9)))
            # s1 = rotr19(x) ^ rotr61(x) ^ shr6(x), x = W[t-2]
            # rotr19: limbs rotated by one (x0 x3 x2 x1), then shifted by 3;
            # rotr61: limbs rotated by three (x2 x1 x0 x3), then shifted by 13.
            x3 = w3[t - 2]
            x2 = w2[t - 2]
            x1 = w1[t - 2]
            x0 = w0[t - 2]
            r3 = (((x0 >> 3) | ((x1 & 7) << 13)) ^ ((x2 >> 13) | ((x3 & 8191) << 3))
                  ^ (x3 >> 6))
            r2 = (((x3 >> 3) | ((x0 & 7) << 13)) ^ ((x1 >> 13) | ((x2 & 8191) << 3))
                  ^ ((x2 >> 6) | ((x3 & 63) << 10)))
            r1 = (((x2 >> 3) | ((x3 & 7) << 13)) ^ ((x0 >> 13) | ((x1 & 8191) << 3))
                  ^ ((x1 >> 6) | ((x2 & 63) << 10)))
            r0 = (((x1 >> 3) | ((x2 & 7) << 13)) ^ ((x3 >> 13) | ((x0 & 8191) << 3))
                  ^ ((x0 >> 6) | ((x1 & 63) << 10)))
            # W[t] = W[t-16] + s0 + W[t-7] + s1, carried limb by limb
            c = w0[t - 16] + s0 + w0[t - 7] + r0
            w0[t] = c & _M16
            c = w1[t - 16] + s1 + w1[t - 7] + r1 + (c >> 16)
            w1[t] = c & _M16
            c = w2[t - 16] + s2 + w2[t - 7] + r2 + (c >> 16)
            w2[t] = c & _M16
            w3[t] = (w3[t - 16] + s3 + w3[t - 7] + r3 + (c >> 16)) & _M16
        s = self._h
        (a3, a2, a1, a0, b3, b2, b1, b0, c3, c2, c1, c0, d3, d2, d1, d0,
         e3, e2, e1, e0, f3, f2, f1, f0, g3, g2, g1, g0, h3, h2, h1, h0) = s
        for t in range(80):
            # S1(e) = rotr14 ^ rotr18 ^ rotr41
            # rotr14: shift 14 within (e3 e2 e1 e0); rotr18: limbs (e0 e3 e2 e1), shift 2;
            # rotr41: limbs (e1 e0 e3 e2), shift 9.
            u3 = (((e3 >> 14) | ((e0 & 16383) << 2)) ^ ((e0 >> 2) | ((e1 & 3) << 14))
                  ^ ((e1 >> 9) | ((e2 & 511) << 7)))
            u2 = (((e2 >> 14) | ((e3 & 16383) << 2)) ^ ((e3 >> 2) | ((e0 & 3) << 14))
                  ^ ((e0 >> 9) | ((e1 & 511) << 7)))
            u1 = (((e1 >> 14) | ((e2 & 16383) << 2)) ^ ((e2 >> 2) | ((e3 & 3) << 14))
                  ^ ((e3 >> 9) | ((e0 & 511) << 7)))
            u0 = (((e0 >> 14) | ((e1 & 16383) << 2)) ^ ((e1 >> 2) | ((e2 & 3) << 14))
                  ^ ((e2 >> 9) | ((e3 & 511) << 7)))
            # T1 = h + S1 + Ch(e, f, g) + K[t] + W[t], limb sums (carried below)
            q = 4 * t
            t0 = h0 + u0 + ((e0 & f0) ^ ((e0 ^ _M16) & g0)) + k[q + 3] + w0[t]
            t1 = h1 + u1 + ((e1 & f1) ^ ((e1 ^ _M16) & g1)) + k[q + 2] + w1[t]
            t2 = h2 + u2 + ((e2 & f2) ^ ((e2 ^ _M16) & g2)) + k[q + 1] + w2[t]
            t3 = h3 + u3 + ((e3 & f3) ^ ((e3 ^ _M16) & g3)) + k[q] + w3[t]
            # S0(a) = rotr28 ^ rotr34 ^ rotr39
            # rotr28: limbs (a0 a3 a2 a1), shift 12; rotr34: limbs (a1 a0 a3 a2), shift 2;
            # rotr39: limbs (a1 a0 a3 a2), shift 7.
            v3 = (((a0 >> 12) | ((a1 & 4095) << 4)) ^ ((a1 >> 2) | ((a2 & 3) << 14))
                  ^ ((a1 >> 7) | ((a2 & 127) << 9)))
            v2 = (((a3 >> 12) | ((a0 & 4095) << 4)) ^ ((a0 >> 2) | ((a1 & 3) << 14))
                  ^ ((a0 >> 7) | ((a1 & 127) << 9)))
            v1 = (((a2 >> 12) | ((a3 & 4095) << 4)) ^ ((a3 >> 2) | ((a0 & 3) << 14))
                  ^ ((a3 >> 7) | ((a0 & 127) << 9)))
            v0 = (((a1 >> 12) | ((a2 & 4095) << 4)) ^ ((a2 >> 2) | ((a3 & 3) << 14))
                  ^ ((a2 >> 7) | ((a3 & 127) << 9)))
            # T2 = S0 + Maj(a, b, c)
            v3 += (a3 & (b3 | c3)) | (b3 & c3)
            v2 += (a2 & (b2 | c2)) | (b2 & c2)
            v1 += (a1 & (b1 | c1)) | (b1 & c1)
            v0 += (a0 & (b0 | c0)) | (b0 & c0)
            h3 = g3
            h2 = g2
            h1 = g1
            h0 = g0
            g3 = f3
            g2 = f2
            g1 = f1
            g0 = f0
            f3 = e3
            f2 = e2
            f1 = e1
            f0 = e0
            # e = d + T1
            c = d0 + t0
            e0 = c & _M16
            c = d1 + t1 + (c >> 16)
            e1 = c & _M16
            c = d2 + t2 + (c >> 16)
            e2 = c & _M16
            e3 = (d3 + t3 + (c >> 16)) & _M16
            d3 = c3
            d2 = c2
            d1 = c1
            d0 = c0
            c3 = b3
            c2 = b2
            c1 = b1
            c0 = b0
            b3 = a3
            b2 = a2
            b1 = a1
            b0 = a0
            # a = T1 + T2
            c = t0 + v0
            a0 = c & _M16
            c = t1 + v1 + (c >> 16)
            a1 = c & _M16
            c = t2 + v2 + (c >> 16)
            a2 = c & _M16
            a3 = (t3 + v3 + (c >> 16)) & _M16
        _add64(s, 0, a3, a2, a1, a0)
        _add64(s, 4, b3, b2, b1, b0)
        _add64(s, 8, c3, c2, c1, c0)
        _add64(s, 12, d3, d2, d1, d0)
        _add64(s, 16, e3, e2, e1, e0)
        _add64(s, 20, f3, f2, f1, f0)
        _add64(s, 24, g3, g2, g1, g0)
        _add64(s, 28, h3, h2, h1, h0)


def _add64(s, i, x3, x2, x1, x0):
    c = s[i + 3] + x0
    s[i + 3] = c & _M16
    c = s[i + 2] + x1 + (c >> 16)
    s[i + 2] = c & _M16
    c = s[i + 1] + x2 + (c >> 16)
    s[i + 1] = c & _M16
    s[i] = (s[i] + x3 + (c >> 16)) & _M16


CLASSES = {"sha1": SHA1, "sha256": SHA256, "sha512": SHA512}
