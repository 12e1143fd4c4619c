# The setup form's fields as they stream in (the sink of form.parse): text fields in memory
# (bounded), the certificate, key and root CA decoded from PEM (or DER) block by block straight
# into their staged files (certs.stage), then checked from there. Nothing here is committed:
# certs.commit renames the staged files into place, discard() drops them, and a power cut before
# either leaves staged files that certs.recover() drops at boot.
import certs
import pem

MAX_TEXT = 512  # an SSID, a password, an endpoint: far less
# field -> (stored path, PEM labels, name in messages)
FILES = {
    "cert": (certs.CERT, pem.CERT_LABELS, "certificate"),
    "key": (certs.KEY, pem.KEY_LABELS, "private key"),
    "ca": (certs.CA, pem.CERT_LABELS, "root CA"),
}
TEXT = ("ssid", "password", "endpoint", "open")


class Upload:
    def __init__(self):
        self.text = {}  # text field -> bytes
        self.public = {}  # "cert"/"key" uploaded -> its public part, for the pair check
        self.staged = []  # stored paths whose new content is staged
        self.errors = {}  # field -> message
        self._name = ""  # the field being received
        self._file = None  # its staged file, once it has a non-blank byte
        self._dec = None

    def open(self, name):
        self._name = name
        if name in TEXT:
            self.text[name] = b""
        elif name in FILES:  # given twice: the last one counts, as with text fields
            self._drop(name)
            self.errors.pop(name, None)

    def write(self, data):
        name = self._name
        if name in TEXT:
            if len(self.text[name]) + len(data) > MAX_TEXT:
                self.errors[name] = "%s: longer than %d bytes" % (name, MAX_TEXT)
            else:
                self.text[name] += data
        elif name in FILES and name not in self.errors:
            try:
                if self._dec is None:
                    if not data.strip():
                        return  # blank so far: an empty file field keeps the stored value
                    path, labels, _ = FILES[name]
                    self.staged.append(path)
                    self._file = certs.stage(path)
                    self._dec = pem.Decoder(labels, self._file)
                self._dec.write(data)
            except pem.PemError as e:
                self._refuse(name, e)

    def close(self):
        name = self._name
        self._name = ""
        dec, f = self._dec, self._file
        if dec is None or f is None or name in self.errors:
            return
        path = FILES[name][0]
        try:
            dec.close()
            f.close()
            self._file = self._dec = None
            with open(path + certs.STAGED, "rb") as f:  # read a few bytes at a time
                public = (pem.private_key if name == "key" else pem.certificate)(f)
            if name != "ca":
                self.public[name] = public
        except pem.PemError as e:
            self._refuse(name, e)

    def _refuse(self, name, e):
        self.errors[name] = "%s: %s" % (FILES[name][2], e)
        self._drop(name)

    def _drop(self, name):
        path = FILES[name][0]
        if self._file:
            self._file.close()
        self._file = self._dec = None
        if path in self.staged:
            self.staged.remove(path)
            certs.unstage(path)
        self.public.pop(name, None)

    def discard(self):
        # drop whatever is staged (after a refusal, a broken upload, or a commit: then nothing)
        if self._file:
            self._file.close()
            self._file = self._dec = None
        for path in self.staged:
            certs.unstage(path)
        self.staged = []
