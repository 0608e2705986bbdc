"""Official documents (正式文书): Jinja2 HTML templates rendered to A4 PDF by WeasyPrint,
signed (PAdES, pyHanko) by a document key the archive key certifies, kept in the WORM store
and printed again byte for byte. A service package: the core (archive/) never imports it."""
