from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Ledgerline monitoring"

    def ready(self) -> None:
        from django.core import checks

        from monitoring import (
            conf,
            receivers,  # noqa: F401  (connects the delivery hooks)
            webhook,
        )

        conf.current.register_check()
        checks.register(webhook.check_secret)
