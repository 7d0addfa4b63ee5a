//! `multipart/form-data` standard uploads, as the official clients (`storage3`, `storage-js`)
//! send them: the object is the `file` part; a `contentType` field overrides the part's own type
//! (`fileUploadFromRequest` in supabase/storage `src/storage/uploader.ts`, through
//! `@fastify/multipart`).

/// The file part of a `multipart/form-data` body: its bytes and its content type.
#[derive(Debug)]
pub(super) struct FilePart {
    pub(super) data: Vec<u8>,
    pub(super) content_type: Option<String>,
}

/// Parses `body` as `multipart/form-data` with the boundary of `content_type`; `None` when it
/// has no `file` part or is malformed.
pub(super) fn file_part(content_type: &str, body: &[u8]) -> Option<FilePart> {
    let boundary = content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_owned())
    })?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut file: Option<FilePart> = None;
    let mut field_type: Option<String> = None;
    let mut rest = body;
    // Skip the preamble up to the first delimiter.
    let start = find(rest, &delimiter)?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        let rest_part = rest.strip_prefix(b"\r\n")?;
        let end = find(rest_part, &delimiter)?;
        let part = &rest_part[..end];
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let header_end = find(part, b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&part[..header_end]).into_owned();
        let content = &part[header_end + 4..];
        let name = headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                return None;
            }
            v.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == "name").then(|| v.trim_matches('"').to_owned())
            })
        });
        let part_type = headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        });
        match name.as_deref() {
            Some("file") if file.is_none() => {
                file = Some(FilePart {
                    data: content.to_vec(),
                    content_type: part_type,
                });
            }
            Some("contentType") => {
                field_type = Some(String::from_utf8_lossy(content).into_owned());
            }
            _ => {}
        }
        rest = &rest_part[end + delimiter.len()..];
    }
    let mut file = file?;
    if field_type.is_some() {
        file.content_type = field_type;
    }
    Some(file)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_part_and_its_type() {
        let body = b"--xyz\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n\r\n--xyz--\r\n";
        let p = file_part("multipart/form-data; boundary=xyz", body).unwrap();
        assert_eq!(p.data, b"hello\r\n");
        assert_eq!(p.content_type.as_deref(), Some("text/plain"));
        assert!(file_part("multipart/form-data; boundary=other", body).is_none());
    }
}
