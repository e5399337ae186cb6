"""OpenVINO's model converter reports usage to Google Analytics (and writes ~/intel/openvino_ga_cid) unless
a consent file says no. This product phones nowhere: make its telemetry inert for the whole process."""

from __future__ import annotations

import types


def disable_openvino_telemetry() -> None:
    try:
        import openvino_telemetry
    except ImportError:
        return
    cls = openvino_telemetry.Telemetry
    if getattr(cls, "_newsrag_disabled", False):
        return

    def _init(self, *args, **kwargs):
        # ovc compares `telemetry.backend.app_name` after init: give it one, with nothing behind it
        app_name = kwargs.get("app_name", args[0] if args else None)
        self.consent, self.tid, self.sender = False, None, None
        self.backend = types.SimpleNamespace(app_name=app_name)

    def _noop(self, *args, **kwargs):
        return None

    cls.init = _init
    for name in ("send_event", "send_error", "send_stack_trace", "start_session", "end_session",
                 "force_shutdown", "send_opt_in_event"):
        if hasattr(cls, name):
            setattr(cls, name, _noop)
    cls._newsrag_disabled = True
