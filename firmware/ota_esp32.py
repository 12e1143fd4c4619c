# ESP32 only: OTA of the whole MicroPython image (firmware .bin) through `esp32.Partition` and
# ESP-IDF's bootloader rollback, instead of the application bundle (ota.py). Written and
# type-checked against the stubs, never run by the rig: the unix port has no app partitions and
# the emulated flash is a directory (docs/firmware-connectivity.md "Jobs agent and OTA").
#
# Needs an image built with OTA partitions and rollback (MicroPython's ESP32_GENERIC board,
# variant OTA: partitions-4MiB-ota.csv, CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE). The flow, as the
# MicroPython docs' `esp32.Partition` section and ESP-IDF's "Over The Air Updates (OTA)" page
# describe it:
#   1. `Partition(Partition.RUNNING).get_next_update()`: the other app slot;
#   2. stream the image into it with `writeblocks(block, buf)`, one 4096-byte flash sector per
#      call (each write erases its sector first), hashing as it goes; the size and SHA-256 of the
#      job document checked before anything is made bootable;
#   3. `set_boot()` on it (ESP-IDF checks the image header there and refuses a broken one), reset;
#   4. the new image boots in state ESP_OTA_IMG_PENDING_VERIFY: `confirm()` calls
#      `Partition.mark_app_valid_cancel_rollback()` once the firmware is healthy (the same test
#      as the bundle: a session up and the job's update accepted). A reset before that makes the
#      bootloader boot the previous image (ESP_OTA_IMG_ABORTED): the rollback needs no code here.
# No Range resume: a cut download starts again from sector 0 (the slot is not bootable until
# set_boot). The job document is the bundle's (url, sha256, size), naming the .bin.
from binascii import hexlify
from hashlib import sha256

import esp32
import ota

SECTOR = 4096  # the partition's block size: writeblocks(n, buf) erases and writes sector n


class ImageWriter:
    # sink for ota.fetch: fills one sector buffer, writes it to the slot when full
    def __init__(self, slot):
        self.slot = slot
        self.buf = bytearray(SECTOR)
        self.used = 0
        self.block = 0
        self.hash = sha256()
        self.size = 0

    def __call__(self, data):
        self.hash.update(data)
        self.size += len(data)
        mv = memoryview(data)
        while mv:
            n = min(len(mv), SECTOR - self.used)
            self.buf[self.used : self.used + n] = mv[:n]
            self.used += n
            mv = mv[n:]
            if self.used == SECTOR:
                self._flush()

    def _flush(self):
        for i in range(self.used, SECTOR):  # the rest of the last sector: erased flash reads 0xFF
            self.buf[i] = 0xFF
        self.slot.writeblocks(self.block, self.buf)
        self.block += 1
        self.used = 0

    def close(self):
        if self.used:
            self._flush()


async def install(doc, ca, report=None):
    # -> None once the new image is set to boot (the caller resets), else why not (nothing
    # bootable changed)
    # id: a label or BOOT / RUNNING (MicroPython docs, esp32.Partition); the stub says str only
    running = esp32.Partition(esp32.Partition.RUNNING)  # type: ignore[arg-type]
    slot = running.get_next_update()
    capacity = slot.info()[3]  # (type, subtype, address, size, label, encrypted)
    if doc["size"] > capacity:
        return "image of %d bytes does not fit the %d-byte slot" % (doc["size"], capacity)
    sink = ImageWriter(slot)
    await ota.fetch(doc["url"], ca, 0, doc["size"], sink, report)
    sink.close()
    if sink.size != doc["size"]:
        return "size %d, not %d" % (sink.size, doc["size"])
    if hexlify(sink.hash.digest()).decode() != doc["sha256"]:
        return "sha256 mismatch"
    slot.set_boot()
    return None


def confirm():
    # the new image is healthy: cancel the bootloader's rollback
    esp32.Partition.mark_app_valid_cancel_rollback()
