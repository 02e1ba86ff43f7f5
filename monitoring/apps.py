from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Ledgerline monitoring"

    def ready(self) -> None:
        from monitoring import receivers  # noqa: F401  (connects the delivery hooks)
