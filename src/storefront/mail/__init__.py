"""E-mail: templates rendered to text + HTML, delivered over SMTP (or logged without a host)."""
