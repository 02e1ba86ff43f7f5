from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Ledgerline delivery"

    def ready(self) -> None:
        # Imported here, not at module level: they need the app registry.
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_save

        from delivery import conf, signals, tasks
        from delivery.fastpath import layers
        from delivery.wire import revocation

        conf.current.register_check()
        layers.install_drop_hook()
        # The layers below report what the repair path acts on; only this wiring knows both.
        signals.fast_path_missed.connect(tasks.queue_redelivery, dispatch_uid="delivery.redeliver")
        signals.replay_requested.connect(tasks.queue_replay, dispatch_uid="delivery.replay")
        # Revoked identities close their open sockets (delivery/wire/revocation.py).
        user_model = get_user_model()
        post_save.connect(revocation.user_saved, sender=user_model, dispatch_uid="delivery.user")
        user_logged_out.connect(revocation.user_logged_out, dispatch_uid="delivery.logout")
