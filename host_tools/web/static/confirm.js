// Progressive enhancement only: every page works without it. Selects a one-time secret's text
// when it is clicked, so an operator can copy it into a ticket.
document.addEventListener("click", function (e) {
  var t = e.target;
  if (t && t.classList && (t.classList.contains("secret") || t.classList.contains("hash"))) {
    var r = document.createRange();
    r.selectNodeContents(t);
    var s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
  }
});
