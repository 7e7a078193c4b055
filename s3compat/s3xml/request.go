package s3xml

import (
	"encoding/xml"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// CompleteMultipartUpload is the CompleteMultipartUpload request body.
// Decoding it checks that it lists 1 to [MaxParts] parts (MalformedXML
// otherwise), that every part number is 1..10000 (InvalidArgument) and
// that the numbers strictly ascend (InvalidPartOrder). Whether each part
// exists and its ETag matches is for the caller to check.
type CompleteMultipartUpload struct {
	XMLName xml.Name        `xml:"CompleteMultipartUpload"`
	Parts   []CompletedPart `xml:"Part"`
}

// CompletedPart is one Part of a CompleteMultipartUpload request.
type CompletedPart struct {
	PartNumber int  `xml:"PartNumber"`
	ETag       ETag `xml:"ETag"`
	Checksums
}

var errPartNumber = s3err.ErrInvalidArgument.WithMessage(
	"Part number must be an integer between 1 and 10000, inclusive")

func (c *CompleteMultipartUpload) validate() error {
	if len(c.Parts) == 0 || len(c.Parts) > MaxParts {
		return errMalformed
	}
	prev := 0
	for _, p := range c.Parts {
		if p.PartNumber < 1 || p.PartNumber > MaxParts {
			return errPartNumber
		}
		if p.PartNumber <= prev {
			return s3err.ErrInvalidPartOrder
		}
		prev = p.PartNumber
	}
	return nil
}

// Delete is the DeleteObjects request body. Decoding it checks that it
// names 1 to [MaxDeleteObjects] objects; S3 answers MalformedXML to an
// empty list and to one over the limit, and so does Decode.
type Delete struct {
	XMLName xml.Name           `xml:"Delete"`
	Quiet   bool               `xml:"Quiet"`
	Objects []ObjectIdentifier `xml:"Object"`
}

// ObjectIdentifier names one object of a DeleteObjects request. ETag,
// when set, makes the delete conditional on it.
type ObjectIdentifier struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	ETag      ETag   `xml:"ETag,omitempty"`
}

func (d *Delete) validate() error {
	if len(d.Objects) == 0 || len(d.Objects) > MaxDeleteObjects {
		return errMalformed
	}
	return nil
}

// CreateBucketConfiguration is the optional CreateBucket request body.
type CreateBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint,omitempty"`
}
