"""Direct http(s) links: the segmented downloader, its part files, the SSRF guard, host health."""
