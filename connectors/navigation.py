from connectors.selectors import VIEW

NAV_ITEMS = [("Connectors", "connectors:list", VIEW)]
