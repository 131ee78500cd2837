// The evidence page's Print button (no inline handlers: the CSP allows scripts from our own files only).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
