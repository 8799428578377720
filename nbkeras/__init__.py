"""nbkeras"""
