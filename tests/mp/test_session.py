# The AUTH throttle (dsc.session.Throttle) across power cuts: its file "authfail" holds the wrong
# proofs in a row (the wait) and every AUTH attempt ever checked (the card's nonces). A cut at
# any flash unit of a save (each byte written, the rename, and on FAT the remove before it)
# leaves the old counts or the new ones, never fewer: on the littlefs-like model (an atomic
# rename over the file) and on the FAT model (remove, then rename). Runs on CPython and both
# MicroPython VMs.
from dsc import session as S
from fakehal import FakeHal
from mptest import main, test


def counts(flash, fat):
    t = S.Throttle(FakeHal(flash=flash, fat=fat))  # a boot: the counts as loaded from flash
    return t.failures, t.attempts


def throttle(failures, attempts, fat):
    hal = FakeHal(fat=fat)
    if failures or attempts:
        hal.flash[S.FAIL_FILE] = ("%d %d" % (failures, attempts)).encode()
    return hal, S.Throttle(hal)


def every_cut(start, op, fat):
    """Run `op` from `start` with the power cut after each flash unit in turn; return the
    counts each cut left after a reboot, and the counts after the op ran whole."""
    hal, t = throttle(start[0], start[1], fat)
    getattr(t, op)()
    whole = (t.failures, t.attempts)
    seen = []
    n = 0
    while True:
        hal, t = throttle(start[0], start[1], fat)
        if not hal.cut_during(n, getattr(t, op)):
            break
        seen.append(counts(hal.flash, fat))
        n += 1
    return seen, whole


def check_every_cut(start, op, fat):
    seen, whole = every_cut(start, op, fat)
    assert seen, "no cut point"
    for n, got in enumerate(seen):
        assert got in (start, whole), (op, fat, n, got, start, whole)
    return seen, whole


@test
def test_a_charge_survives_every_cut_on_both_models():
    for fat in (False, True):
        for start in ((0, 0), (1, 1), (3, 41), (0, 9999)):
            seen, whole = check_every_cut(start, "charge", fat)
            assert whole == (start[0] + 1, start[1] + 1)
            assert seen[0] == start  # cut before anything was written


@test
def test_a_clear_survives_every_cut_on_both_models():
    for fat in (False, True):
        for start in ((1, 1), (5, 77)):
            _seen, whole = check_every_cut(start, "clear", fat)
            assert whole == (0, start[1])


@test
def test_fat_cut_between_remove_and_rename_keeps_the_new_counts():
    # The cut the FAT model adds: authfail removed, authfail.new whole and not yet renamed.
    hal, t = throttle(2, 40, True)
    size = len(b"3 41")
    assert hal.cut_during(size + 1, t.charge)  # the bytes, the remove, then the cut
    assert sorted(hal.flash) == [S.FAIL_NEW] and hal.flash[S.FAIL_NEW] == b"3 41"
    assert counts(hal.flash, True) == (3, 41)
    assert sorted(hal.flash) == [S.FAIL_FILE]  # adopted: renamed into place
    assert counts(hal.flash, True) == (3, 41)


@test
def test_leftover_new_file_is_dropped_when_the_old_one_stands():
    hal, t = throttle(1, 5, False)
    assert hal.cut_during(2, t.charge)  # part of authfail.new written
    assert sorted(hal.flash) == [S.FAIL_FILE, S.FAIL_NEW]
    assert counts(hal.flash, False) == (1, 5)
    assert sorted(hal.flash) == [S.FAIL_FILE]


@test
def test_a_lone_unreadable_new_file_means_nothing_was_counted():
    # The very first save cut at its start: an empty authfail.new and no authfail.
    hal = FakeHal(flash={S.FAIL_NEW: b""})
    assert counts(hal.flash, False) == (0, 0) and not hal.flash
    # An unreadable authfail itself still means the longest wait.
    assert counts({S.FAIL_FILE: b"\xff"}, False) == (23, 0)


main()
