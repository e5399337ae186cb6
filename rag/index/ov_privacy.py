"""OpenVINO's model converter reports usage to Google Analytics (and writes ~/intel/openvino_ga_cid) unless
a consent file says no. This product phones nowhere: make its telemetry inert for the whole process."""

from __future__ import annotations


def disable_openvino_telemetry() -> None:
    try:
        import openvino_telemetry
    except ImportError:
        return
    cls = openvino_telemetry.Telemetry
    if getattr(cls, "_newsrag_disabled", False):
        return

    def _init(self, *args, **kwargs):
        self.consent, self.tid, self.backend, self.sender = False, None, None, None

    def _noop(self, *args, **kwargs):
        return None

    cls.init = _init
    for name in ("send_event", "send_error", "send_stack_trace", "start_session", "end_session",
                 "force_shutdown", "send_opt_in_event"):
        if hasattr(cls, name):
            setattr(cls, name, _noop)
    cls._newsrag_disabled = True
