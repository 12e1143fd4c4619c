# The setup page's HTML (configap.py serves it): constants streamed in order with the few
# escaped values between them, never built whole. A module of its own so that the page's text is
# not held while a submitted form is read (docs/esp32-differences.md "Memory").


def _esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


HEAD_1 = b'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Button ConfigureMe'
HEAD_2 = b'</title><meta name="viewport" content="width=device-width"></head><body>'
FORM_1 = (
    b'<form method="post" action="/configure" enctype="multipart/form-data">'
    b"<h3>Wi-Fi Configuration:</h3>"
    b'<label>SSID <input name="ssid" value="'
)
FORM_2 = (
    b'"></label><br>'
    b'<label><input type="checkbox" name="open"> Open Network(No Password)</label><br>'
    b'<label>Password <input type="password" name="password"></label>'
    b"<h3>AWS IoT Configuration:</h3>"
    b'<label>Certificate <input type="file" name="cert"></label><br>'
    b'<label>Private Key <input type="file" name="key"></label><br>'
    b'<label>Root CA <input type="file" name="ca"></label><br>'
    b'<label>Endpoint <input name="endpoint" value="'
)
FORM_3 = (
    b'" placeholder="abc123.iot.us-east-1.amazonaws.com"></label><br>'
    b'<input type="submit" value="Configure"></form></body></html>'
)
THANKS = (
    b"<p>Thank you for configuring your device.</p><p>If you are unable to use your device,"
    b" please enter configuration mode and try again.</p></body></html>"
)


def page(serial, errors=None, ssid="", endpoint=""):
    # the form, as pieces to stream (constants and the few escaped values)
    yield HEAD_1
    yield HEAD_2
    yield "<p>Enter the value for any field that you wish to change for device: "
    yield _esc(serial)
    yield "</p>"
    if errors:
        yield '<ul id="errors">'
        for k in sorted(errors):
            yield '<li class="error" data-field="%s">%s: %s</li>' % (k, k, _esc(errors[k]))
        yield "</ul>"
    yield FORM_1
    yield _esc(ssid)
    yield FORM_2
    yield _esc(endpoint)
    yield FORM_3


def confirmation():
    return (HEAD_1, b" Setup", HEAD_2, THANKS)
