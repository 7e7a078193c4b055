package s3xml

// encodePrefixes returns a copy of cps with every prefix URL-encoded.
func encodePrefixes(cps []CommonPrefix) []CommonPrefix {
	if cps == nil {
		return nil
	}
	out := make([]CommonPrefix, len(cps))
	for i, cp := range cps {
		out[i] = CommonPrefix{Prefix: EncodeName(cp.Prefix)}
	}
	return out
}

// encodeObjects returns a copy of objs with every key URL-encoded.
func encodeObjects(objs []Object) []Object {
	if objs == nil {
		return nil
	}
	out := make([]Object, len(objs))
	for i, o := range objs {
		o.Key = EncodeName(o.Key)
		out[i] = o
	}
	return out
}

// encoded applies encoding-type=url to V1's Prefix, Marker, NextMarker,
// Delimiter, keys and common prefixes.
func (r ListBucketResult) encoded() any {
	if r.EncodingType != EncodingURL {
		return r
	}
	r.Prefix = EncodeName(r.Prefix)
	r.Marker = EncodeName(r.Marker)
	r.NextMarker = EncodeName(r.NextMarker)
	r.Delimiter = EncodeName(r.Delimiter)
	r.Contents = encodeObjects(r.Contents)
	r.CommonPrefixes = encodePrefixes(r.CommonPrefixes)
	return r
}

// encoded applies encoding-type=url to V2's Prefix, StartAfter,
// Delimiter, keys and common prefixes; continuation tokens are opaque
// and never encoded.
func (r ListBucketResultV2) encoded() any {
	if r.EncodingType != EncodingURL {
		return r
	}
	r.Prefix = EncodeName(r.Prefix)
	r.StartAfter = EncodeName(r.StartAfter)
	r.Delimiter = EncodeName(r.Delimiter)
	r.Contents = encodeObjects(r.Contents)
	r.CommonPrefixes = encodePrefixes(r.CommonPrefixes)
	return r
}

// encoded applies encoding-type=url to the version listing's Prefix,
// KeyMarker, NextKeyMarker, Delimiter, keys and common prefixes.
func (r ListVersionsResult) encoded() any {
	if r.EncodingType != EncodingURL {
		return r
	}
	r.Prefix = EncodeName(r.Prefix)
	r.KeyMarker = EncodeName(r.KeyMarker)
	r.NextKeyMarker = EncodeName(r.NextKeyMarker)
	r.Delimiter = EncodeName(r.Delimiter)
	if r.Versions != nil {
		vs := make([]ObjectVersion, len(r.Versions))
		for i, v := range r.Versions {
			v.Key = EncodeName(v.Key)
			vs[i] = v
		}
		r.Versions = vs
	}
	r.CommonPrefixes = encodePrefixes(r.CommonPrefixes)
	return r
}

// encoded applies encoding-type=url to the upload listing's Prefix,
// KeyMarker, NextKeyMarker, Delimiter, keys and common prefixes; upload
// IDs are never encoded.
func (r ListMultipartUploadsResult) encoded() any {
	if r.EncodingType != EncodingURL {
		return r
	}
	r.Prefix = EncodeName(r.Prefix)
	r.KeyMarker = EncodeName(r.KeyMarker)
	r.NextKeyMarker = EncodeName(r.NextKeyMarker)
	r.Delimiter = EncodeName(r.Delimiter)
	if r.Uploads != nil {
		us := make([]Upload, len(r.Uploads))
		for i, u := range r.Uploads {
			u.Key = EncodeName(u.Key)
			us[i] = u
		}
		r.Uploads = us
	}
	r.CommonPrefixes = encodePrefixes(r.CommonPrefixes)
	return r
}
