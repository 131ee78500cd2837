"""Clients for Workday, Okta and Jira: the only code in the project that speaks HTTP to them.

They look alike: `XClient.from_settings()`, typed errors from errors.py, retries, timeouts and
debug logging from transport.py.
"""
