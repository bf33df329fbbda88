"""Whitespace tokenizer that makes "đường", "duong" and "đg" the same token.

Citizens type with or without diacritics and in teencode; folding every token here means every
featurizer after it (word and character n-grams, DIET, the category classifier) sees one spelling,
while token offsets still point into the original text so entity values keep the user's spelling.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.text import fold

# Shorthand seen in citizens' messages -> the folded full word. Only unambiguous forms: "đg" is
# "đường" in a complaint far more often than "đang", and the classifier learns the rest.
TEENCODE: Dict[str, str] = {
    "ko": "khong", "k": "khong", "kh": "khong", "khg": "khong", "hok": "khong", "hong": "khong",
    "kg": "khong", "hem": "khong",
    "dc": "duoc", "dk": "duoc", "đc": "duoc",
    "dg": "duong", "đg": "duong",
    "r": "roi", "rui": "roi", "oy": "roi", "ruj": "roi",
    "j": "gi", "gj": "gi",
    "bt": "biet", "bik": "biet", "bjk": "biet",
    "mn": "moi nguoi", "ae": "anh em",
    "vs": "voi", "ng": "nguoi", "nc": "nuoc", "nt": "nhan tin",
    "sdt": "so dien thoai", "đt": "dien thoai",
    "p": "phuong", "ph": "phuong", "tp": "thanh pho",
    "cty": "cong ty", "ubnd": "uy ban nhan dan",
    # Not "a": it is also "à"/"ạ" folded, the commonest particles of all.
    "e": "em", "c": "chi", "t": "toi", "mk": "minh", "mik": "minh",
    "ntn": "nhu the nao", "z": "vay", "v": "vay",
    "hnay": "hom nay", "hqua": "hom qua", "bh": "bao gio", "bgio": "bao gio",
    "tks": "cam on", "thanks": "cam on", "thank": "cam on", "camon": "cam on",
    "oke": "ok", "okie": "ok", "uk": "uh", "uhm": "uh", "um": "uh",
}


def normalize_token(text: str) -> str:
    folded = fold(text)
    folded = TEENCODE.get(folded, folded)
    # Keep title case: it is the entity extractor's best hint that a street name starts here.
    return folded.title() if text[:1].isupper() else folded


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class VietnameseTokenizer(WhitespaceTokenizer):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**WhitespaceTokenizer.get_default_config(), "intent_tokenization_flag": False}

    @staticmethod
    def not_supported_languages() -> None:
        return None

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            # A teencode expansion may hold a space; featurizers treat the token as one unit.
            token.text = normalize_token(token.text)
            token.lemma = token.text
        return tokens
