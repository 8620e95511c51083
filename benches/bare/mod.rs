//! Bare AES-128-GCM of the backend crate the plugin is built with: the baseline of both
//! benches.

#[cfg(not(feature = "ring"))]
mod backend {
    use aes_gcm::aead::array::Array;
    use aes_gcm::{AeadInOut, Aes128Gcm, KeyInit};

    pub struct Key(Aes128Gcm);

    impl Key {
        pub fn new(key: &[u8]) -> Key {
            Key(Aes128Gcm::new_from_slice(key).expect("a 16-byte key"))
        }

        pub fn seal(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
            self.0.encrypt_inout_detached(&Array::from(*iv), aad, data.into()).expect("frame fits AES-GCM").into()
        }

        pub fn open(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8; 16]) -> bool {
            self.0.decrypt_inout_detached(&Array::from(*iv), aad, data.into(), &Array::from(*tag)).is_ok()
        }
    }
}

#[cfg(feature = "ring")]
mod backend {
    use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};

    pub struct Key(LessSafeKey);

    impl Key {
        pub fn new(key: &[u8]) -> Key {
            Key(LessSafeKey::new(UnboundKey::new(&AES_128_GCM, key).expect("a 16-byte key")))
        }

        pub fn seal(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
            let tag = self.0.seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), data);
            tag.expect("frame fits AES-GCM").as_ref().try_into().expect("a 16-byte tag")
        }

        pub fn open(&self, iv: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8; 16]) -> bool {
            let nonce = Nonce::assume_unique_for_key(*iv);
            self.0.open_in_place_separate_tag(nonce, Aad::from(aad), Tag::from(*tag), data, 0..).is_ok()
        }
    }
}

pub use backend::Key;

#[cfg(not(feature = "ring"))]
pub const BACKEND: &str = "aes-gcm";
#[cfg(feature = "ring")]
pub const BACKEND: &str = "ring";
