"""The OpenSSF Scorecard source: repository health per tracked package."""
