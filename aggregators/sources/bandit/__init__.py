"""Bandit static analysis of sdists: safe download and extraction, content-addressed cache."""
