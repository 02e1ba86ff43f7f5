from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Ledgerline delivery"

    def ready(self) -> None:
        from delivery import layers

        layers.install_drop_hook()
