/**
  * Frequent English function words. The local embedder down-weights them rather than dropping them: they
  * carry little topic, but a text made only of them ("to be or not to be") must still get a vector.
  * Question words are here too, so "When did …?" does not pull a query towards passages that say "when".
  * Forms are as the tokenizer produces them: lower case, accents folded, apostrophes removed ("dont").
  */
export const STOPWORDS: ReadonlySet<string> = new Set(
  `a about above after again against all also am an and any are arent as at be because been before being below
  between both but by can cannot cant could couldnt did didnt do does doesnt doing dont down during each either
  else etc ever few for from further had hadnt has hasnt have havent having he hed hes her here heres hers
  herself him himself his how hows however i im ive if in into is isnt it its itself lets me might
  more most much must mustnt my myself neither no nor not of off on once only or other ought our ours
  ourselves out over own per same shall shant she shes should shouldnt so some such than that thats
  the their theirs them themselves then there theres these they theyd theyll theyre theyve this those though
  through thus to too under until up upon very via was wasnt we were weve werent what whats when
  whens where wheres whether which while who whos whom whose why whys will with within without wont would
  wouldnt yet you youd youll youre youve your yours yourself yourselves`
    .trim()
    .split(/\s+/),
);

/**
 * Frequent English content words: general nouns, verbs, adjectives, adverbs and number words that occur
 * in a large share of any text collection. The local embedder cannot know a corpus's IDF, so these get a
 * reduced weight as a fixed prior (any inflection: they are matched after stemming).
 */
export const COMMON_WORDS: ReadonlySet<string> = new Set(
  `ability able across actually add added age ago allow almost alone along already although always among another
  area areas around away back based became become becomes began begin begun behind believe best better big called
  came case cases certain change changed clear come comes common consider considered continue continued could course
  current day days describe described despite different early eight end ended enough entire especially even every
  example fact far feel felt few fifth final find first five follow followed following form formed former forms found
  four fourth full general generally get give given gives go going good got great group groups hand help high
  however important include included includes including instead itself just keep kind known large larger largest last
  late later lead least less level like likely line little long look made main major make makes making many mean
  means member members might million modern month months name named near nearly need never new next nine number
  numbers often old open order original others part particular parts people perhaps period place places point
  possible present probably put rather really recent recently remain remained result results right said same say
  says second see seen seven several short show showed shown side significant similar since six small something
  sometimes soon still take taken takes ten term terms the third though thought three thus time times today together
  told total toward towards turn two type types upon use used uses using usually various way ways well whole within
  without work worked works year years`
    .trim()
    .split(/\s+/),
);
