from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self):
        from connectors.delivery import connector_batch_size, connector_messages_send
        from connectors.events import connectors_hear
        from connectors.navigation import NAV_ITEMS
        from connectors.subscriptions import subscriptions_watch
        from core.events import register_fact_listener
        from core.outbox import register_outbox_batch_transport
        from core.pages import register_navigation
        from core.secrets import register_encrypted_field

        register_fact_listener(connectors_hear)
        subscriptions_watch()
        register_outbox_batch_transport("connector", connector_messages_send, batch_size=connector_batch_size)
        register_encrypted_field("connectors.Connector", "secret_encrypted")
        register_navigation(NAV_ITEMS, order=40)
