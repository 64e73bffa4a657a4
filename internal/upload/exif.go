package upload

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// errJPEGHead is a JPEG whose metadata does not end within the bytes read:
// it cannot be shown to carry no location, so it is not kept.
var errJPEGHead = errors.New("upload: jpeg metadata too long or malformed")

var (
	exifID = []byte("Exif\x00\x00")
	xmpID  = []byte("http://ns.adobe.com/xap/1.0/")
	xmpExt = []byte("http://ns.adobe.com/xmp/extension/")
)

// stripGPS removes location from the JPEG whose first bytes are head, in
// place and without changing its length: the GPS IFD of the EXIF segment is
// emptied (its entries and their values zeroed, its count set to 0), and an
// XMP segment, which may repeat the location, becomes a comment of zeros.
// Everything else stays, the orientation included, so a photo of a document
// still shows the right way up. It reports whether it changed anything.
//
// Keeping the length is what lets the file stay where tusd put it: tusd
// knows the upload by its size, and a shorter file would look unfinished.
func stripGPS(head []byte) (bool, error) {
	if len(head) < 4 || head[0] != 0xFF || head[1] != 0xD8 {
		return false, errJPEGHead
	}
	changed := false
	i := 2
	for {
		if i+4 > len(head) {
			return changed, errJPEGHead
		}
		if head[i] != 0xFF {
			return changed, errJPEGHead
		}
		marker := head[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01 {
			i += 2
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // image data: no metadata after it matters
			return changed, nil
		}
		n := int(binary.BigEndian.Uint16(head[i+2:]))
		if n < 2 || i+2+n > len(head) {
			return changed, errJPEGHead
		}
		seg := head[i+4 : i+2+n]
		if marker == 0xE1 {
			switch {
			case bytes.HasPrefix(seg, exifID):
				if emptyGPS(seg[len(exifID):]) {
					changed = true
				}
			case bytes.HasPrefix(seg, xmpID), bytes.HasPrefix(seg, xmpExt):
				head[i+1] = 0xFE // COM: decoders skip it
				clear(seg)
				changed = true
			}
		}
		i += 2 + n
	}
}

// emptyGPS empties the GPS IFD of a TIFF structure (an EXIF payload).
func emptyGPS(tiff []byte) bool {
	if len(tiff) < 8 {
		return false
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return false
	}
	ifd0 := int(bo.Uint32(tiff[4:]))
	gps := -1
	for _, e := range entries(tiff, bo, ifd0) {
		if bo.Uint16(tiff[e:]) == 0x8825 {
			gps = int(bo.Uint32(tiff[e+8:]))
		}
	}
	if gps < 0 {
		return false
	}
	es := entries(tiff, bo, gps)
	if len(es) == 0 { // none, or emptied already
		return false
	}
	for _, e := range es {
		size := typeSize(bo.Uint16(tiff[e+2:])) * int(bo.Uint32(tiff[e+4:]))
		if size > 4 {
			off := int(bo.Uint32(tiff[e+8:]))
			if off >= 0 && size >= 0 && off+size <= len(tiff) {
				clear(tiff[off : off+size])
			}
		}
		clear(tiff[e : e+12])
	}
	bo.PutUint16(tiff[gps:], 0)
	return true
}

// entries lists the offsets of an IFD's 12-byte entries, or nil.
func entries(tiff []byte, bo binary.ByteOrder, ifd int) []int {
	if ifd < 8 || ifd+2 > len(tiff) {
		return nil
	}
	n := int(bo.Uint16(tiff[ifd:]))
	if ifd+2+12*n > len(tiff) {
		return nil
	}
	out := make([]int, n)
	for k := range out {
		out[k] = ifd + 2 + 12*k
	}
	return out
}

func typeSize(t uint16) int {
	switch t {
	case 1, 2, 6, 7:
		return 1
	case 3, 8:
		return 2
	case 4, 9, 11:
		return 4
	case 5, 10, 12:
		return 8
	}
	return 0
}
