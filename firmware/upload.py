# The setup form's fields as they stream in (the sink of form.parse): text fields in memory
# (bounded), the certificate, key and root CA decoded from PEM (or DER) block by block straight
# into their staged files (<path>.new, as certs.commit takes them). check() then checks them there
# once the whole form is read (der.py, not loaded while the form's parser is), a few bytes at a
# time. Nothing here is committed: certs.commit renames the staged files into place, discard()
# drops them, and a power cut before either leaves staged files that certs.recover() drops at
# boot. Of `certs` only names are kept: the page drops its code while the form is read
# (docs/esp32-differences.md "Memory").
import os

from certs import CA, CERT, DIR, KEY, STAGED

MAX_TEXT = 512  # an SSID, a password, an endpoint: far less
# field -> (stored path, name in messages). `pem` is imported where it is used, so that the
# page can drop it before the commit.
FILES = {
    "cert": (CERT, "certificate"),
    "key": (KEY, "private key"),
    "ca": (CA, "root CA"),
}
TEXT = ("ssid", "password", "endpoint", "open")


def _stage(path):
    # an open file for the new content of `path`; certs.commit(..., staged=[path]) puts it in place
    try:
        os.mkdir(DIR)
    except OSError:
        pass
    return open(path + STAGED, "wb")


def _unstage(path):
    try:
        os.remove(path + STAGED)
    except OSError:
        pass


class Upload:
    def __init__(self):
        self.text = {}  # text field -> bytes
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
            import pem

            try:
                if self._dec is None:
                    if not data.strip():
                        return  # blank so far: an empty file field keeps the stored value
                    path = FILES[name][0]
                    self.staged.append(path)
                    self._file = _stage(path)
                    labels = pem.KEY_LABELS if name == "key" else pem.CERT_LABELS
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
        import pem

        try:
            dec.close()
            f.close()
            self._file = self._dec = None
        except pem.PemError as e:
            self._refuse(name, e)

    def check(self):
        # The certificate, key and CA the board would have: each uploaded one where it is staged,
        # the others as stored (a key stored before keys had to carry their public part is
        # refused here; a stored CA is only required). Problems go to self.errors.
        import der
        from pem import PemError

        public = {}  # "cert"/"key" -> its public part, for the pair check
        for name in FILES:
            path, label = FILES[name]
            if name in self.errors:
                continue
            staged = path in self.staged
            try:  # read a few bytes at a time
                f = open(path + STAGED if staged else path, "rb")
            except OSError:
                self.errors[name] = "%s required" % label
                continue
            try:
                if staged or name != "ca":
                    public[name] = (der.private_key if name == "key" else der.certificate)(f)
            except PemError as e:
                self.errors[name] = "%s: %s" % (label, e)
            finally:
                f.close()
        if "cert" in public and "key" in public:
            try:
                der.check_pair(public["cert"], public["key"])
            except PemError as e:
                self.errors["key"] = str(e)

    def _refuse(self, name, e):
        self.errors[name] = "%s: %s" % (FILES[name][1], e)
        self._drop(name)

    def _drop(self, name):
        path = FILES[name][0]
        if self._file:
            self._file.close()
        self._file = self._dec = None
        if path in self.staged:
            self.staged.remove(path)
            _unstage(path)

    def discard(self):
        # drop whatever is staged (after a refusal, a broken upload, or a commit: then nothing)
        if self._file:
            self._file.close()
            self._file = self._dec = None
        for path in self.staged:
            _unstage(path)
        self.staged = []
