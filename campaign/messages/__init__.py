"""Messages: templates, channels, governor, dispatch and send."""
