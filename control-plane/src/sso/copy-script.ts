/**
 * The dashboard's only script, served from our origin (`script-src 'self'`, nothing inline):
 * a button with `data-copy="<element id>"` copies that element's text to the clipboard.
 */
export const COPY_SCRIPT_PATH = '/dashboard-assets/copy.js';

export const COPY_SCRIPT = `document.addEventListener('click', function (event) {
  var button = event.target.closest && event.target.closest('button[data-copy]');
  if (!button) return;
  var source = document.getElementById(button.getAttribute('data-copy'));
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    var label = button.textContent;
    button.textContent = 'Copied';
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});
`;
