from django.apps import AppConfig


class AgentConfig(AppConfig):
    name = "agent"
    verbose_name = "Ledgerline demo agent"

    def ready(self) -> None:
        from agent import (
            conf,
            signals,  # noqa: F401  (connects the message_posted receiver)
        )

        conf.current.register_check()
