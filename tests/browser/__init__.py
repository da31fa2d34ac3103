"""Browser tests: the admin in headless Chromium through Playwright."""
