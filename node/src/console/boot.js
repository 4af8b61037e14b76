// Loaded first: keeps every script error of the page where a reader (or a test) can see it.
window.__xinbaoErrors = [];
window.addEventListener('error', function (e) {
  window.__xinbaoErrors.push(String(e.message || e));
});
window.addEventListener('unhandledrejection', function (e) {
  window.__xinbaoErrors.push('unhandled rejection: ' + String(e.reason && e.reason.message || e.reason));
});
