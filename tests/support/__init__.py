"""Shared test worlds (moto fleets, restore worlds, fault injection) and the AWS call recorder."""
