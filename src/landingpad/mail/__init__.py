"""Mail: building messages and sending them (SMTP, or a folder of .eml files)."""
