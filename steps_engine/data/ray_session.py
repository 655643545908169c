"""Connecting to Ray for one run (`--engine ray`); Ray is imported here and nowhere at module level.

`ray_session(address)` joins the cluster at `address` ("auto" = the one `ray start` began on this
machine, "ray://host:10001" = Ray Client), else $RAY_ADDRESS, else starts a local Ray on this
machine; it shuts down only a Ray it started. Inside a running Ray (a test fixture, a notebook,
`ray job submit`) it reuses that one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

__all__ = ["RayUnavailable", "import_ray", "ray_session"]


class RayUnavailable(RuntimeError):
    """Ray is not installed (the optional extra `steps-studio[ray]`)."""


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is what the stages use
    except ImportError as exc:
        raise RayUnavailable(
            f"--engine ray needs Ray Data ({exc}); install it with: pip install 'steps-studio[ray]'"
        ) from None
    return ray


@contextmanager
def ray_session(address: str | None = None):
    """Yield the `ray` module with a connected session (see the module docstring)."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    ray.init(address=address, include_dashboard=False, configure_logging=False, log_to_driver=True)
    try:
        yield ray
    finally:
        ray.shutdown()


@contextmanager
def ordered_data_context(ray):
    """Ray Data's context with `preserve_order` on (blocks come back in input order) and its
    progress bars off; restores the previous settings afterwards."""
    ctx = ray.data.DataContext.get_current()
    old = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    try:
        yield ctx
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = old
