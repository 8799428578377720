"""kernels/cuda/views.py against kernels/cpu/views.py: same shapes and contents, and views (writes show through)."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import views
from numba import cuda
from support.cuda_twin import check_twin


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_views_match_cpu(dtype):
    arena = np.arange(60, dtype=dtype)
    check_twin("views.flat", arena, 5, 7)
    check_twin("views.flat", arena, 60, 0)
    check_twin("views.rows", arena, 4, 3, 5)
    check_twin("views.rows", arena, 4, 0, 5)
    check_twin("views.cube", arena, 2, 2, 3, 4)
    check_twin("views.quad", arena, 1, 2, 3, 2, 4)
    matrix = np.arange(24, dtype=dtype).reshape(6, 4)
    check_twin("views.row_range", matrix, 1, 4)
    check_twin("views.row_range", matrix, 4, 4)
    check_twin("views.row_range", matrix, 5, 9)
    for args in [(3, 4, 5), (50, 4, 3), (60, 4, 3), (0, 2, 0), (58, 10, 1)]:
        check_twin("views.rows_available", arena, *args)
    check_twin("views.rows_available", np.zeros(0, dtype), 0, 8, 3)


def test_views_share_memory():
    arena = cuda.to_device(np.zeros(30))
    m = views.rows(arena, 6, 4, 3)
    m[1:2, :].copy_to_device(np.ones((1, 3)))
    host = arena.copy_to_host()
    assert host[9:12].tolist() == [1.0, 1.0, 1.0] and host.sum() == 3.0
    r = views.row_range(views.rows(arena, 0, 10, 3), 3, 4)
    assert r.shape == (3,) and r.copy_to_host().tolist() == [1.0, 1.0, 1.0]
