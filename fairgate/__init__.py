"""Shared pieces of the waiting room and the ticketing app: configuration, embedded servers,
token signing and HTTP plumbing."""
