// The default calibration text of `kiln build` (GPTQ statistics for q4_0 and int4), about 3,650 SmolLM2 tokens of
// public-domain English, chosen apart from the perplexity text (Tests/goldens/text/coriolanus-5k.txt):
// - the start of chapter 1 of Jane Austen's *Persuasion* (1818), from the NLTK Gutenberg corpus file
//   austen-persuasion.txt with its tokenizer's spaces around punctuation and quotes removed;
// - Act III, scene 1 of Shakespeare's *Measure for Measure* up to Isabella's "No word to save thee.", as it appears
//   in data/tinyshakespeare/input.txt of karpathy/char-rnn.

extension CalibrationText {
    /// The text above, stored in the binary so that a build needs no file beside it.
    public static let builtIn = CalibrationText(
        name: "built-in (Persuasion ch. 1, Measure for Measure III.1)",
        text: #"""
Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who, for his own amusement, never took up any book but the Baronetage; there he found occupation for an idle hour, and consolation in a distressed one; there his faculties were roused into admiration and respect, by contemplating the limited remnant of the earliest patents; there any unwelcome sensations, arising from domestic affairs changed naturally into pity and contempt as he turned over the almost endless creations of the last century; and there, if every other leaf were powerless, he could read his own history with an interest which never failed.
This was the page at which the favourite volume always opened: "ELLIOT OF KELLYNCH HALL.
"Walter Elliot, born March 1, 1760, married, July 15, 1784, Elizabeth, daughter of James Stevenson, Esq. of South Park, in the county of Gloucester, by which lady (who died 1800) he has issue Elizabeth, born June 1, 1785; Anne, born August 9, 1787; a still-born son, November 5, 1789; Mary, born November 20, 1791."
Precisely such had the paragraph originally stood from the printer's hands; but Sir Walter had improved it by adding, for the information of himself and his family, these words, after the date of Mary's birth--"Married, December 16, 1810, Charles, son and heir of Charles Musgrove, Esq. of Uppercross, in the county of Somerset," and by inserting most accurately the day of the month on which he had lost his wife.
Then followed the history and rise of the ancient and respectable family, in the usual terms; how it had been first settled in Cheshire; how mentioned in Dugdale, serving the office of high sheriff, representing a borough in three successive parliaments, exertions of loyalty, and dignity of baronet, in the first year of Charles II, with all the Marys and Elizabeths they had married; forming altogether two handsome duodecimo pages, and concluding with the arms and motto:--"Principal seat, Kellynch Hall, in the county of Somerset," and Sir Walter's handwriting again in this finale:--
"Heir presumptive, William Walter Elliot, Esq., great grandson of the second Sir Walter."
Vanity was the beginning and the end of Sir Walter Elliot's character; vanity of person and of situation.
He had been remarkably handsome in his youth; and, at fifty-four, was still a very fine man.
Few women could think more of their personal appearance than he did, nor could the valet of any new made lord be more delighted with the place he held in society.
He considered the blessing of beauty as inferior only to the blessing of a baronetcy; and the Sir Walter Elliot, who united these gifts, was the constant object of his warmest respect and devotion.
His good looks and his rank had one fair claim on his attachment; since to them he must have owed a wife of very superior character to any thing deserved by his own.
Lady Elliot had been an excellent woman, sensible and amiable; whose judgement and conduct, if they might be pardoned the youthful infatuation which made her Lady Elliot, had never required indulgence afterwards.
--She had humoured, or softened, or concealed his failings, and promoted his real respectability for seventeen years; and though not the very happiest being in the world herself, had found enough in her duties, her friends, and her children, to attach her to life, and make it no matter of indifference to her when she was called on to quit them.
--Three girls, the two eldest sixteen and fourteen, was an awful legacy for a mother to bequeath, an awful charge rather, to confide to the authority and guidance of a conceited, silly father.
She had, however, one very intimate friend, a sensible, deserving woman, who had been brought, by strong attachment to herself, to settle close by her, in the village of Kellynch; and on her kindness and advice, Lady Elliot mainly relied for the best help and maintenance of the good principles and instruction which she had been anxiously giving her daughters.
This friend, and Sir Walter, did not marry, whatever might have been anticipated on that head by their acquaintance.
Thirteen years had passed away since Lady Elliot's death, and they were still near neighbours and intimate friends, and one remained a widower, the other a widow.
That Lady Russell, of steady age and character, and extremely well provided for, should have no thought of a second marriage, needs no apology to the public, which is rather apt to be unreasonably discontented when a woman does marry again, than when she does not; but Sir Walter's continuing in singleness requires explanation.
Be it known then, that Sir Walter, like a good father, (having met with one or two private disappointments in very unreasonable applications), prided himself on remaining single for his dear daughters' sake.
For one daughter, his eldest, he would really have given up any thing, which he had not been very much tempted to do..
Elizabeth had succeeded, at sixteen, to all that was possible, of her mother's rights and consequence; and being very handsome, and very like himself, her influence had always been great, and they had gone on together most happily.
His two other children were of very inferior value.
Mary had acquired a little artificial importance, by becoming Mrs Charles Musgrove; but Anne, with an elegance of mind and sweetness of character, which must have placed her high with any people of real understanding, was nobody with either father or sister; her word had no weight, her convenience was always to give way--she was only Anne.
To Lady Russell, indeed, she was a most dear and highly valued god-daughter, favourite, and friend.
Lady Russell loved them all; but it was only in Anne that she could fancy the mother to revive again.
A few years before, Anne Elliot had been a very pretty girl, but her bloom had vanished early; and as even in its height, her father had found little to admire in her, (so totally different were her delicate features and mild dark eyes from his own), there could be nothing in them, now that she was faded and thin, to excite his esteem.
He had never indulged much hope, he had now none, of ever reading her name in any other page of his favourite work.
All equality of alliance must rest with Elizabeth, for Mary had merely connected herself with an old country family of respectability and large fortune, and had therefore given all the honour and received none: Elizabeth would, one day or other, marry suitably.
It sometimes happens that a woman is handsomer at twenty-nine than she was ten years before; and, generally speaking, if there has been neither ill health nor anxiety, it is a time of life at which scarcely any charm is lost.
It was so with Elizabeth, still the same handsome Miss Elliot that she had begun to be thirteen years ago, and Sir Walter might be excused, therefore, in forgetting her age, or, at least, be deemed only half a fool, for thinking himself and Elizabeth as blooming as ever, amidst the wreck of the good looks of everybody else; for he could plainly see how old all the rest of his family and acquaintance were growing.

DUKE VINCENTIO:
So then you hope of pardon from Lord Angelo?

CLAUDIO:
The miserable have no other medicine
But only hope:
I've hope to live, and am prepared to die.

DUKE VINCENTIO:
Be absolute for death; either death or life
Shall thereby be the sweeter. Reason thus with life:
If I do lose thee, I do lose a thing
That none but fools would keep: a breath thou art,
Servile to all the skyey influences,
That dost this habitation, where thou keep'st,
Hourly afflict: merely, thou art death's fool;
For him thou labour'st by thy flight to shun
And yet runn'st toward him still. Thou art not noble;
For all the accommodations that thou bear'st
Are nursed by baseness. Thou'rt by no means valiant;
For thou dost fear the soft and tender fork
Of a poor worm. Thy best of rest is sleep,
And that thou oft provokest; yet grossly fear'st
Thy death, which is no more. Thou art not thyself;
For thou exist'st on many a thousand grains
That issue out of dust. Happy thou art not;
For what thou hast not, still thou strivest to get,
And what thou hast, forget'st. Thou art not certain;
For thy complexion shifts to strange effects,
After the moon. If thou art rich, thou'rt poor;
For, like an ass whose back with ingots bows,
Thou bear's thy heavy riches but a journey,
And death unloads thee. Friend hast thou none;
For thine own bowels, which do call thee sire,
The mere effusion of thy proper loins,
Do curse the gout, serpigo, and the rheum,
For ending thee no sooner. Thou hast nor youth nor age,
But, as it were, an after-dinner's sleep,
Dreaming on both; for all thy blessed youth
Becomes as aged, and doth beg the alms
Of palsied eld; and when thou art old and rich,
Thou hast neither heat, affection, limb, nor beauty,
To make thy riches pleasant. What's yet in this
That bears the name of life? Yet in this life
Lie hid moe thousand deaths: yet death we fear,
That makes these odds all even.

CLAUDIO:
I humbly thank you.
To sue to live, I find I seek to die;
And, seeking death, find life: let it come on.

ISABELLA:

Provost:
Who's there? come in: the wish deserves a welcome.

DUKE VINCENTIO:
Dear sir, ere long I'll visit you again.

CLAUDIO:
Most holy sir, I thank you.

ISABELLA:
My business is a word or two with Claudio.

Provost:
And very welcome. Look, signior, here's your sister.

DUKE VINCENTIO:
Provost, a word with you.

Provost:
As many as you please.

DUKE VINCENTIO:
Bring me to hear them speak, where I may be concealed.

CLAUDIO:
Now, sister, what's the comfort?

ISABELLA:
Why,
As all comforts are; most good, most good indeed.
Lord Angelo, having affairs to heaven,
Intends you for his swift ambassador,
Where you shall be an everlasting leiger:
Therefore your best appointment make with speed;
To-morrow you set on.

CLAUDIO:
Is there no remedy?

ISABELLA:
None, but such remedy as, to save a head,
To cleave a heart in twain.

CLAUDIO:
But is there any?

ISABELLA:
Yes, brother, you may live:
There is a devilish mercy in the judge,
If you'll implore it, that will free your life,
But fetter you till death.

CLAUDIO:
Perpetual durance?

ISABELLA:
Ay, just; perpetual durance, a restraint,
Though all the world's vastidity you had,
To a determined scope.

CLAUDIO:
But in what nature?

ISABELLA:
In such a one as, you consenting to't,
Would bark your honour from that trunk you bear,
And leave you naked.

CLAUDIO:
Let me know the point.

ISABELLA:
O, I do fear thee, Claudio; and I quake,
Lest thou a feverous life shouldst entertain,
And six or seven winters more respect
Than a perpetual honour. Darest thou die?
The sense of death is most in apprehension;
And the poor beetle, that we tread upon,
In corporal sufferance finds a pang as great
As when a giant dies.

CLAUDIO:
Why give you me this shame?
Think you I can a resolution fetch
From flowery tenderness? If I must die,
I will encounter darkness as a bride,
And hug it in mine arms.

ISABELLA:
There spake my brother; there my father's grave
Did utter forth a voice. Yes, thou must die:
Thou art too noble to conserve a life
In base appliances. This outward-sainted deputy,
Whose settled visage and deliberate word
Nips youth i' the head and follies doth emmew
As falcon doth the fowl, is yet a devil
His filth within being cast, he would appear
A pond as deep as hell.

CLAUDIO:
The prenzie Angelo!

ISABELLA:
O, 'tis the cunning livery of hell,
The damned'st body to invest and cover
In prenzie guards! Dost thou think, Claudio?
If I would yield him my virginity,
Thou mightst be freed.

CLAUDIO:
O heavens! it cannot be.

ISABELLA:
Yes, he would give't thee, from this rank offence,
So to offend him still. This night's the time
That I should do what I abhor to name,
Or else thou diest to-morrow.

CLAUDIO:
Thou shalt not do't.

ISABELLA:
O, were it but my life,
I'ld throw it down for your deliverance
As frankly as a pin.

CLAUDIO:
Thanks, dear Isabel.

ISABELLA:
Be ready, Claudio, for your death tomorrow.

CLAUDIO:
Yes. Has he affections in him,
That thus can make him bite the law by the nose,
When he would force it? Sure, it is no sin,
Or of the deadly seven, it is the least.

ISABELLA:
Which is the least?

CLAUDIO:
If it were damnable, he being so wise,
Why would he for the momentary trick
Be perdurably fined? O Isabel!

ISABELLA:
What says my brother?

CLAUDIO:
Death is a fearful thing.

ISABELLA:
And shamed life a hateful.

CLAUDIO:
Ay, but to die, and go we know not where;
To lie in cold obstruction and to rot;
This sensible warm motion to become
A kneaded clod; and the delighted spirit
To bathe in fiery floods, or to reside
In thrilling region of thick-ribbed ice;
To be imprison'd in the viewless winds,
And blown with restless violence round about
The pendent world; or to be worse than worst
Of those that lawless and incertain thought
Imagine howling: 'tis too horrible!
The weariest and most loathed worldly life
That age, ache, penury and imprisonment
Can lay on nature is a paradise
To what we fear of death.

ISABELLA:
Alas, alas!

CLAUDIO:
Sweet sister, let me live:
What sin you do to save a brother's life,
Nature dispenses with the deed so far
That it becomes a virtue.

ISABELLA:
O you beast!
O faithless coward! O dishonest wretch!
Wilt thou be made a man out of my vice?
Is't not a kind of incest, to take life
From thine own sister's shame? What should I think?
Heaven shield my mother play'd my father fair!
For such a warped slip of wilderness
Ne'er issued from his blood. Take my defiance!
Die, perish! Might but my bending down
Reprieve thee from thy fate, it should proceed:
I'll pray a thousand prayers for thy death,
No word to save thee.

"""#)
}
