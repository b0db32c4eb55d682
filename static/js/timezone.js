/* Tell the portal the reader's time zone, so times (an approval's expiry) are written in it. */
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // IANA names are cookie-safe as they are; anything else is not a zone name.
    if (zone && /^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone) && document.cookie.indexOf("cavra_tz=" + zone) === -1) {
      document.cookie = "cavra_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* no Intl: times stay in UTC */ }
})();
