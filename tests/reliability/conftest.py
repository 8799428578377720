"""Helpers for the reliability tests: children in a clean environment, unprivileged where a test needs it.

The cache policy is read once, at import, so every case runs in a child interpreter with no inherited NBKERAS_*/
NUMBA_* variables, HOME and TMPDIR inside the test's directory, and that directory as cwd.

Read-only directories: we run as root in CI, and root ignores permission bits. A child that must meet read-only
directories drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its capability bounding set before exec (prctl
PR_CAPBSET_DROP), so it is root bound by mode bits, as any user on a read-only mount. (Switching to uid 65534 is not
possible here: the interpreter lives under /root, mode 0700.) Run as another user, no dropping is needed.
"""

import os
import sys

import pytest

from reliability_helpers import OTHER_UID, can_drop_dac, drop_dac_capabilities


@pytest.fixture(scope="session")
def bound_by_modes():
    """preexec_fn for a child that must honour permission bits (None when we are not root); skips if impossible."""
    if os.geteuid() != 0:
        return None
    if not sys.platform.startswith("linux") or not can_drop_dac():
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE (prctl PR_CAPBSET_DROP refused): root would "
                    "ignore the read-only permission bits this test relies on")
    return drop_dac_capabilities


@pytest.fixture(scope="session")
def other_uid():
    """A second user's uid for files planted by 'someone else' (we chown them); skips unless we are root."""
    if os.geteuid() != 0:
        pytest.skip("planting files owned by another user needs root (chown); the group/other-writable cases "
                    "cover the CI user")
    return OTHER_UID
