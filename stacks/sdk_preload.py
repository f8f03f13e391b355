"""Import the Kubernetes SDK in a thread while the engine works on the cluster's hosts.

The program declares the tenant cluster first (SSH and local commands, and the
tenant's Kubernetes provider), then the platform (Kubernetes resources). Importing the
Kubernetes SDK's generated modules is the largest single cost of the program's start
(about 0.65 s of CPU on the CI machines for the modules below: module bodies full of
typed input classes).
Run in the same thread as the declarations, it delays every registration behind it;
the engine and the policy packs, which could already check and plan the cluster's
hosts, wait with nothing to do.

`imported_in_background` imports the modules in a thread and lets the program's event
loop run until they are in: meanwhile the cluster's registrations go to the engine and
each host's rollout chain (one registration waiting for the one before) advances. The
platform is declared afterwards with the modules already loaded. The engine and the
packs run in other processes, so their work overlaps the import; only the program's
own handling of each reply shares the interpreter with it.

Threads: the SDK registers its packages as lazy modules, and executing one
(`pulumi._utils._LazyModule`, a copy of Python 3.11's) takes no lock, so two threads
must not execute the same one at once. The packages above the modules (`pulumi_kubernetes.core`,
...) are executed on the calling thread before the import thread starts; while it runs,
the event loop only sends registrations and resolves outputs of resources already
declared, which reads no Kubernetes SDK module (every Kubernetes object of the cluster
half, such as the `ncp-managed` hosted control plane, is built before the wait).

Used by `stacks.main()` (the program process) through `pulumi.run`; tests declare
synchronously (`stacks.run()`), which imports the same modules on first use.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Sequence

KUBERNETES_MODULES = (
    "pulumi_kubernetes",
    "pulumi_kubernetes.provider",
    "pulumi_kubernetes.meta.v1",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.apiextensions",
    "pulumi_kubernetes.helm.v3",
    "pulumi_kubernetes.rbac.v1",
    "pulumi_kubernetes.networking.v1",
    "pulumi_kubernetes.storage.v1",
)
"""The Kubernetes SDK modules the platform declares resources from (tests check this
covers every `pulumi_kubernetes` module a platform run loads)."""


def import_modules(modules: Sequence[str]) -> None:
    """Import `modules` in order, and execute them and their parent packages: the SDK
    registers its packages as lazy modules (`importlib.util.LazyLoader`), which sit in
    `sys.modules` unexecuted until first used. Already executed ones cost a lookup.

    Raises:
        ImportError: a module is missing (a broken virtualenv).
    """
    for module in modules:
        parts = module.split(".")
        for end in range(1, len(parts) + 1):
            # Reading an attribute other than the introspection ones (`__doc__`,
            # `__name__`, ...) executes a lazy module (`pulumi._utils._LazyModule`).
            getattr(importlib.import_module(".".join(parts[:end])), "__all__", None)


async def imported_in_background(modules: Sequence[str] = KUBERNETES_MODULES) -> None:
    """Import `modules` in a daemon thread; return when they are imported, with the
    event loop free to run in the meantime.

    Raises:
        The import's exception (e.g. `ImportError`), in the awaiting coroutine.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    # The lazy packages above the modules, here, so the two threads never both execute
    # one (module docstring): each is a few lines registering its API versions.
    import_modules(sorted({m.rsplit(".", 1)[0] for m in modules if "." in m}))

    def settle(error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def work() -> None:
        error: BaseException | None = None
        try:
            import_modules(modules)
        except BaseException as caught:  # noqa: BLE001 - handed to the awaiting coroutine
            error = caught
        loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=work, name="gpu-caas-sdk-import", daemon=True).start()
    await done
