"""Route groups of the gateway, one module per resource family, mixed into GatewayService."""
