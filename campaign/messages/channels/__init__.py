"""Channels: one small adapter per way of reaching a learner, built from config in one place.

``base`` is the contract every adapter follows; ``registry.build_channels`` builds the adapters
the configuration asks for. Importing this package opens no connection and reads no setting.
"""
