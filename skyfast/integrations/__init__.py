"""Opt-in integrations of skyfast with other packages.

Nothing here is imported by ``import skyfast``; each integration imports the
package it integrates with only when it is used.
"""
