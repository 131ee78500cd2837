"""Signing in through the browser."""

import pytest

pytestmark = pytest.mark.browser


class TestBrowserSignIn:
    def test_an_approver_signs_in_and_sees_the_home_page(self, browser_page, sign_in, approver, screenshot):
        sign_in(approver)
        assert browser_page.get_by_role("heading", level=1).is_visible()
        assert "alice" in browser_page.locator("header").inner_text()
        assert screenshot("home").exists()
